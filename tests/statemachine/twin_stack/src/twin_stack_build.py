"""The build step of the local AWS's test stack: prints a JSON line, or fails when the item says so."""

import json
import os
import sys

item = json.loads(os.environ["ITEM"])
if item.get("build_fails"):
    print("build failed on purpose", file=sys.stderr)
    sys.exit(3)
print("some log line")
print(
    json.dumps(
        {
            "name": item["name"],
            "project_var": os.environ.get("PROJECT_VAR"),
            "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
            "registries": os.environ.get("REGISTRY_ENDPOINTS"),
        }
    )
)
