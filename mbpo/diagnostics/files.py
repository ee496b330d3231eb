"""The two CSV files a diagnostic pass appends to in the run directory, and their columns: what the
monitor (`monitor`, in the training process) writes and the report (`report`, a process without torch) reads.
"""

MODEL_ERROR_FILE = "model_error.csv"
BOUND_FILE = "rollout_bound.csv"
MODEL_ERROR_COLUMNS = ("env_step", "k", "kind", "state_err", "reward_err", "return_err", "n_segments")
BOUND_COLUMNS = (
    "env_step",
    "epoch",
    "schedule_k",
    "bound_k",
    "eps_model",
    "eps_model_raw",
    "eps_policy",
    "eps_policy_max",
    "policy_kl",
    "gamma",
    "n_new",
    "seconds",
    "seconds_direct",
)
