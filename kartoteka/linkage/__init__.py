"""Record linkage: scored candidate pairs, persons as clusters (merge/unmerge), clerical review."""
