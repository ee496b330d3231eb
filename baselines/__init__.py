"""Model-free baselines that MBPO is compared against, built from `mbpo`'s own parts."""
