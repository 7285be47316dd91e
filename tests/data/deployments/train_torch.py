"""Trains nothing, but saves what the no-code PyTorch tests need: a small module with fixed
weights as TorchScript (outputs/model/model.pt) and as a bare state dict
(outputs/state/weights.pth), and outputs/expected.json: rows and the module's own outputs."""
import json
import os

import torch


class Scorer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x):
        return torch.softmax(self.linear(x), dim=1)


torch.manual_seed(7)
module = Scorer().eval()
outputs = os.environ["TRAINCTL_OUTPUTS_DIR"]
for folder in ("model", "state"):
    os.makedirs(os.path.join(outputs, folder), exist_ok=True)
torch.jit.script(module).save(os.path.join(outputs, "model", "model.pt"))
torch.save(module.state_dict(), os.path.join(outputs, "state", "weights.pth"))
rows = [[0.5, -1.0, 2.0], [3.0, 0.0, 1.5]]
with torch.no_grad():
    predictions = module(torch.tensor(rows, dtype=torch.float32)).tolist()
with open(os.path.join(outputs, "expected.json"), "w") as expected:
    json.dump({"rows": rows, "predict": predictions}, expected)
print("saved TorchScript and a state dict")
