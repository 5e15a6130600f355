"""Run by the kestrapy 2.0.3 interpreter (a cached venv, see test_sdk2.py), never imported by pytest.

A namespace file through the 2.0.3 SDK's own calls: upload twice, read back (latest and revision 1), list
revisions and stats; it prints one JSON line that the test checks.
Usage: nsfiles.py URL USER PASSWORD NAMESPACE PATH
"""

import base64
import json
import sys

from kestrapy import KestraClient

url, user, password, namespace, path = sys.argv[1:]
client = KestraClient(host=url, username=user, password=password)
first, second = bytes(range(256)), b"\x00second\xff"
client.files.create_namespace_file(namespace, path, "main", first)
client.files.create_namespace_file(namespace, path, "main", second)
stats = client.files.file_metadatas(namespace, "main", path)
print(json.dumps({"latest": base64.b64encode(client.files.file_content(namespace, path, "main")).decode(),
                  "first": base64.b64encode(client.files.file_content(namespace, path, "main", revision=1)).decode(),
                  "revisions": [r.revision for r in client.files.file_revisions(namespace, "main", path)],
                  "size": stats.size, "type": getattr(stats.type, "value", stats.type)}))
