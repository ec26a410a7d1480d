"""Validates YAML files against a JSON Schema with the jsonschema package (an implementation
nobody here wrote). Usage: check_schema.py SCHEMA.json FILE.yaml... ; prints one line per
file, `ok` or the first error, and exits 1 when any file fails."""
import json
import sys

import jsonschema
import yaml

schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
failed = False
for path in sys.argv[2:]:
    document = yaml.safe_load(open(path)) or {}
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    if errors:
        failed = True
        print(f"{path}: {'.'.join(map(str, errors[0].path))}: {errors[0].message}")
    else:
        print(f"{path}: ok")
sys.exit(1 if failed else 0)
