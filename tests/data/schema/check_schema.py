#!/usr/bin/python3
"""Validates YAML job specs against configs/job-spec.schema.json: check_schema.py SCHEMA SPEC...
Prints "valid" or "invalid: <why>" per spec, one line each; exit 0. Used by the suite to prove the
schema and trainctl's own loader agree on a corpus (tests/data/schema/{valid,invalid})."""
import json
import sys

import jsonschema
import yaml

schema = json.load(open(sys.argv[1]))
for path in sys.argv[2:]:
    try:
        jsonschema.validate(yaml.safe_load(open(path)), schema)
        print("valid")
    except (jsonschema.ValidationError, yaml.YAMLError) as error:
        print("invalid:", str(error).splitlines()[0])
