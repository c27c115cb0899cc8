"""Validates JSON samples against docs/openapi.json's component schemas
with an independent validator (jsonschema, draft 2020-12 as OpenAPI 3.1
uses). Reads [{"schema": NAME, "value": JSON}, ...] from the file named
by argv[1]; prints {"checked": N, "errors": [...]}."""

import json
import pathlib
import sys

from jsonschema import Draft202012Validator

root = pathlib.Path(__file__).resolve().parents[2]
components = json.loads((root / "docs/openapi.json").read_text())["components"]
samples = json.loads(pathlib.Path(sys.argv[1]).read_text())
errors = []
for sample in samples:
    schema = {"$ref": f"#/components/schemas/{sample['schema']}", "components": components}
    for error in Draft202012Validator(schema).iter_errors(sample["value"]):
        path = "/".join(str(p) for p in error.absolute_path)
        errors.append(f"{sample['schema']} at /{path}: {error.message}")
print(json.dumps({"checked": len(samples), "errors": errors}))
