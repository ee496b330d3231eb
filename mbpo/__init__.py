"""mbpo-bench: Model-Based Policy Optimization (Janner et al., 2019) and its SAC baseline, as a library."""

__version__ = "0.1.0"
