"""Synthetic demo data: invented people, real facility naming, recruitment waves that fit the regimes."""
