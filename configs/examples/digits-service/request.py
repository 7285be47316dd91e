"""Prints a scoring request of real digits from scikit-learn's bundled dataset (no download).

  python3 request.py [--count N] > request.json    {"data": [[64 pixel values], ...]}
  python3 request.py [--count N] --labels          the true digits of those images, as JSON
"""
import argparse
import json

from sklearn.datasets import load_digits


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10, help="images, from the dataset's end")
    parser.add_argument("--labels", action="store_true", help="print their true digits instead")
    args = parser.parse_args()
    digits = load_digits()
    picked = slice(len(digits.target) - args.count, None)
    if args.labels:
        print(json.dumps(digits.target[picked].tolist()))
    else:
        print(json.dumps({"data": digits.data[picked].astype(int).tolist()}))


if __name__ == "__main__":
    main()
