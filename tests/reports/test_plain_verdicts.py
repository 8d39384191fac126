"""Every innocent suspect of a recipe is reported as one: a claim on it is a false accusation."""

from kwm.reports import independent_name, is_independent, plain_verdicts


def test_independent_models_of_other_data_are_innocent_suspects():
    assert independent_name() == "independent" and independent_name("sst2") == "independent_sst2"
    assert [is_independent(n) for n in ("independent", "independent_sst2", "stolen", "victim")] \
        == [True, True, False, False]
    summary = {
        "stolen": {"claimed": [True], "wilcoxon_query_cost": [60]},
        "independent_sst2": {"claimed": [True], "wilcoxon_query_cost": [200]},
    }
    lines = plain_verdicts(summary, "wilcoxon")
    assert lines[1] == (
        "The independent model trained on sst2 (another dataset of the task) is claimed on 1 of 1 "
        "seeds (200 queries suffice on 95% of random draws): FALSE ACCUSATION."
    )
    assert not lines[0].endswith("ACCUSATION.")
