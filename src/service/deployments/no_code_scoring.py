"""The built-in entry script of a deployment made without one (docs/deployments.md, No-code
deployment). The scoring harness runs it like any score.py; trainctld chose the model file when
the deployment was created and passes it in the environment:

  TRAINCTL_NO_CODE_FRAMEWORK    sklearn | pytorch
  TRAINCTL_NO_CODE_MODEL_FILE   the file to load, relative to $TRAINCTL_MODEL_DIR

Request:  {"data": [[number, ...], ...], "method": "predict" | "predict_proba"}
          ("method" is optional, "predict" by default; PyTorch models answer "predict" only)
Response: {"predictions": [...]}, plus "classes" (the columns' labels) for predict_proba

A request the client must fix (no "data", rows that are not lists of numbers, the wrong number
of features) raises BadRequest, which the caller gets as a 400 with the message.
"""
import json
import os

from trainctl_scoring import BadRequest

FRAMEWORK = os.environ.get("TRAINCTL_NO_CODE_FRAMEWORK", "")
MODEL_FILE = os.environ.get("TRAINCTL_NO_CODE_MODEL_FILE", "")
SHAPE = '{"data": [[number, ...], ...]}'

model = None


def init():
    global model
    path = os.path.join(os.environ["TRAINCTL_MODEL_DIR"], MODEL_FILE)
    if FRAMEWORK == "sklearn":
        model = load_sklearn(path)
    elif FRAMEWORK == "pytorch":
        model = load_torchscript(path)
    else:
        raise RuntimeError(f"no-code scoring serves sklearn and pytorch models, not {FRAMEWORK!r}")
    print(f"trainctl no-code: serving {MODEL_FILE} ({FRAMEWORK}, {type(model).__name__})",
          flush=True)


def load_sklearn(path):
    import joblib  # reads joblib files and plain pickles alike

    loaded = joblib.load(path)
    if not callable(getattr(loaded, "predict", None)):
        raise TypeError(f"{MODEL_FILE} holds a {type(loaded).__name__}, not a model with "
                        "predict(): deploy it with an entry script (--entry-script)")
    return loaded


def load_torchscript(path):
    import torch

    loaded = torch.jit.load(path, map_location="cpu")
    loaded.eval()
    return loaded


def run(raw_data):
    request = parse_request(raw_data)
    if FRAMEWORK == "sklearn":
        return predict_sklearn(request)
    return predict_torch(request)


def parse_request(raw_data):
    request = json.loads(raw_data)
    if not isinstance(request, dict):
        raise BadRequest(f"the body must be a JSON object: {SHAPE}")
    unknown = sorted(set(request) - {"data", "method"})
    if unknown:
        raise BadRequest(f'unknown field "{unknown[0]}": the body is {SHAPE}, with an optional '
                         '"method"')
    if "data" not in request:
        raise BadRequest(f'the body has no "data": send {SHAPE}, one list of numbers per row')
    data = request["data"]
    if not isinstance(data, list) or not data:
        raise BadRequest(f'"data" must be a non-empty list of rows: {SHAPE}')
    method = request.get("method", "predict")
    if method not in ("predict", "predict_proba"):
        raise BadRequest(f'"method" must be "predict" or "predict_proba", not {short(method)}')
    return data, method


def short(value):
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_numbers(value, where):
    """Every leaf of the nested lists `value` is a number; BadRequest names the first that is not."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_numbers(item, f"{where}[{index}]")
    elif not is_number(value):
        raise BadRequest(f'{where} is {short(value)}, not a number')


def predict_sklearn(request):
    import numpy

    data, method = request
    expected = getattr(model, "n_features_in_", None)
    width = len(data[0]) if isinstance(data[0], list) else None
    for index, row in enumerate(data):
        where = f'"data"[{index}]'
        if not isinstance(row, list):
            raise BadRequest(f"{where} is {short(row)}, not a row: {SHAPE}")
        for column, value in enumerate(row):
            if not is_number(value):
                raise BadRequest(f"{where}[{column}] is {short(value)}, not a number")
        if expected is not None and len(row) != expected:
            raise BadRequest(f"{where} has {len(row)} values; the model takes {expected} "
                             "features per row")
        if len(row) != width:
            raise BadRequest(f'{where} has {len(row)} values and "data"[0] has {width}: every '
                             "row needs the same number of features")
    scorer = getattr(model, method, None)
    if not callable(scorer):
        raise BadRequest(f"the model ({type(model).__name__}) has no {method}()")
    answer = {"predictions": to_json(scorer(numpy.asarray(data, dtype=float)))}
    if method == "predict_proba" and hasattr(model, "classes_"):
        answer["classes"] = to_json(model.classes_)
    return answer


def predict_torch(request):
    import torch

    data, method = request
    if method != "predict":
        raise BadRequest('a PyTorch model answers "method": "predict" only (its forward())')
    check_numbers(data, '"data"')
    try:
        inputs = torch.tensor(data, dtype=torch.float32)
    except (TypeError, ValueError) as error:
        raise BadRequest(f'"data" must be a rectangular list of numbers: {error}') from None
    with torch.no_grad():
        try:
            outputs = model(inputs)
        except RuntimeError as error:  # a shape or type the model does not take
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else "RuntimeError"
            raise BadRequest(f"the model refused an input of shape {list(inputs.shape)}: "
                             f"{reason}") from None
    return {"predictions": to_json(outputs)}


def to_json(value):
    """numpy arrays and scalars, tensors, tuples and dicts of them, as JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    return value
