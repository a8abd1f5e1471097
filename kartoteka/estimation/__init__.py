"""Multiple systems estimation: how many people the lists never documented (no Django here).

tables (capture histories for one declared population and period) → twolist (Lincoln–Petersen, Chapman),
loglinear (Poisson GLM, stepwise/AIC/BIC, profile intervals, strata), lcmcr (Bayesian latent classes,
Manrique-Vallier 2016) → report (what `kartoteka estimate` prints). See docs/estimation.md.
"""
