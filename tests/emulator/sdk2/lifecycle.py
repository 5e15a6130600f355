"""Run by the kestrapy 2.0.3 interpreter (a cached venv, see test_sdk2.py), never imported by pytest.

The seed's lifecycle with the 2.0.3 SDK's own calls: create, update, read back (`flow`, the 2.0.3 name of
`get_flow`), execute with wait; it prints one JSON line that the test checks against the emulator.
Usage: lifecycle.py URL (basic USER PASSWORD | token TOKEN) NAMESPACE ID
"""

import json
import sys

from kestrapy import KestraClient

url, mode, *rest = sys.argv[1:]
if mode == "basic":
    user, password, namespace, flow_id = rest
    client = KestraClient(host=url, username=user, password=password)
else:
    token, namespace, flow_id = rest
    client = KestraClient(host=url, token=token)

source = (f"id: {flow_id}\nnamespace: {namespace}\ninputs:\n  - id: name\n    type: STRING\n    defaults: world\n"
          "tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: Hello {{ inputs.name }}\n")
created = client.flows.create_flow(tenant="main", body=source)
updated = client.flows.update_flow(namespace, flow_id, "main", source + "# v2\n")
fetched = client.flows.flow(namespace, flow_id, "main", source=True)
execution = client.executions.create_execution("main", namespace, flow_id, wait=True, inputs={"name": "sdk"})
print(json.dumps({"created": created.revision, "updated": updated.revision, "draft": fetched.draft,
                  "source": fetched.source, "execution": execution.id,
                  "state": getattr(execution.state.current, "value", execution.state.current)}))
