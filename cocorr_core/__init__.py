"""Tested core of the book "Layers, implicit bias and adversarial robustness".

Layers, with imports pointing down only:
  ground     errors and validation, profiles, devices, source fingerprints
  data, linalg                     data sets; Lanczos and statistics
  models                           two-layer ensembles, MLPs, torchvision ResNets split at a cut
  measures, training               Jacobian norms and ϱ, ρ; one training loop
  attacks                          AutoAttack (torchattacks) and batched PGD
  runs       run configs, result store, sweeps, the ledger
  papers     one subpackage per paper behind a small front, e.g. `papers.cocorrelation`
  catalog, cli                     every paper together; the `cocorr` command
"""
__version__ = "0.2.0"
