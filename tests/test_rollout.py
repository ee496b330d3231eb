import pytest
import torch
from scipy.stats import chisquare

from mbpo.buffer import ReplayBuffer
from mbpo.config import resolve
from mbpo.models.ensemble import EnsembleConfig, GaussianEnsemble
from mbpo.rollout import branched_rollout, model_buffer_capacity
from mbpo.sac import SAC, SACConfig
from mbpo.schedule import rollout_length

OBS, ACT = 3, 1


def labelled_ensemble(elites: list[int]) -> GaussianEnsemble:
    """Member m predicts Δs = m + 1 in every dim (reward m) with negligible variance, whatever the input."""
    model = GaussianEnsemble(OBS, ACT, EnsembleConfig(num_networks=7, num_elites=len(elites), hidden_size=8))
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.zero_()
            layer.bias.zero_()
        last = model.layers[-1].bias  # (E, 1, 2 * O): mean then raw logvar
        for m in range(7):
            last[m, 0, :OBS] = m + 1.0
            last[m, 0, OBS] = m
            last[m, 0, OBS + 1 :] = -50.0  # clamps to min_logvar = -10: std 7e-3
    model.set_elites(elites)
    return model


def agent() -> SAC:
    torch.manual_seed(0)
    return SAC(OBS, ACT, -torch.ones(ACT), torch.ones(ACT), -1.0, SACConfig(hidden_sizes=(8,)))


def never(next_obs: torch.Tensor) -> torch.Tensor:
    return torch.zeros(next_obs.shape[:-1], dtype=torch.bool, device=next_obs.device)


def test_each_sample_steps_through_a_uniformly_random_elite_of_its_own():
    elites = [1, 4, 6]
    model = labelled_ensemble(elites)
    start = torch.zeros(6000, OBS)
    out = branched_rollout(model, agent(), never, start, length=2, generator=torch.Generator().manual_seed(0))
    t = out.transitions
    member = (t.next_obs - t.obs)[:, 0].round().long() - 1  # Δs identifies the member that made it
    assert torch.equal(t.rew.round().long(), member)
    assert set(member.unique().tolist()) == set(elites)  # elites only, never another member
    counts = torch.bincount(member, minlength=7)[elites].numpy()
    assert chisquare(counts).pvalue > 1e-3  # uniform over the elites
    first, second = member[:6000], member[6000:]
    # per sample, not per batch: both steps of one branch agree only as often as chance says (1/3)
    assert abs(float((first == second).float().mean()) - 1 / 3) < 0.03


def test_branches_stop_at_their_first_termination():
    model = labelled_ensemble([1, 2, 3, 4, 5])  # every step adds at least 2 to each state dim

    def beyond_one(next_obs):
        return next_obs[..., 0] > 1.0

    start = torch.zeros(100, OBS)
    start[50:, 0] = -100.0  # these branches stay far below the threshold for all 4 steps
    out = branched_rollout(model, agent(), beyond_one, start, length=4)
    t = out.transitions
    early = t.obs[:, 0] > -50
    # branches from 0 terminate at their first step: that transition is kept, flagged, and nothing after it
    assert int(early.sum()) == 50 and bool((t.terminated[early] == 1).all())
    # the others run all k steps, never flagged
    assert int((~early).sum()) == 50 * 4 and int(t.terminated[~early].sum()) == 0
    assert float(out.alive_fraction) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [(0, 1), (20, 1), (21, 1), (30, 2), (85, 8), (150, 15), (400, 15)],
)
def test_hopper_rollout_schedule(epoch, expected):
    assert rollout_length((20, 150, 1, 15), epoch) == expected


def test_schedule_with_equal_epochs_jumps():
    assert rollout_length((5, 5, 1, 4), 5) == 1 and rollout_length((5, 5, 1, 4), 6) == 4


def test_model_buffer_capacity_is_retain_epochs_of_rollouts():
    cfg = resolve({"env": "hopper", "algo": "mbpo"})
    # 1 epoch x 100k branches x (1000 / 250) refits x k
    assert model_buffer_capacity(cfg, 1) == 400_000
    assert model_buffer_capacity(cfg, 15) == 6_000_000


def test_model_buffer_is_fifo_and_keeps_the_newest_when_k_changes():
    buf = ReplayBuffer(4, OBS, ACT)
    model = labelled_ensemble([0, 1, 2, 3, 4])
    for r in range(3):
        start = torch.full((2, OBS), 100.0 * r)
        out = branched_rollout(model, agent(), never, start, length=1).transitions
        buf.add_batch(out)
    assert (buf.all().obs[:, 0] // 100).tolist() == [1, 1, 2, 2]  # round 0 evicted first
    buf.resize(2)
    assert (buf.all().obs[:, 0] // 100).tolist() == [2, 2]
