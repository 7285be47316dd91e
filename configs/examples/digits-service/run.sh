#!/bin/sh
# The whole chain, from training to predictions: train the digits model (configs/examples/digits),
# register its outputs/model as a model version, deploy score.py with it, and score real digits.
#   sh configs/examples/digits-service/run.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}

run=$(trainctl submit "$here/../digits/job.yaml" -o name)
echo "training in run $run"
trainctl run wait "$run"

trainctl register --run "$run" --name digits --path outputs/model --framework custom \
  --description "softmax regression on sklearn's digits"

trainctl deploy create digits --model digits@latest --entry-script score.py \
  --source-dir "$here" --replicas 2 --wait

"$python" "$here/request.py" --count 10 > "${TMPDIR:-/tmp}/digits-request.json"
echo "true digits:  $("$python" "$here/request.py" --count 10 --labels)"
trainctl deploy invoke digits --data "@${TMPDIR:-/tmp}/digits-request.json" -o json |
  "$python" -c 'import json, sys; print("predictions:", json.load(sys.stdin)["predictions"])'
