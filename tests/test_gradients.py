"""Numerical gradient checks (central differences, float64) of every layer, the loss and the
whole network: nncore/gradcheck.py, which `python -m nncore.gradcheck` runs as a table."""
import numpy as np

from nncore import Dense, gradcheck


def test_every_backward_pass_matches_central_differences():
    results = list(gradcheck.run_checks(list(gradcheck.CHECKS)))
    table = "\n".join(f"{name:32s} {error:.2e}" for name, error, _ in results)
    assert [name for name, _, _ in results] == list(gradcheck.CHECKS)
    assert all(error < gradcheck.MAX_ERROR for _, error, _ in results), table


def test_a_wrong_gradient_is_caught():
    """The check is not blind: a Dense layer whose backward forgets the bias's gradient fails."""
    layer = Dense(4, 3, rng=np.random.default_rng(0), dtype=np.float64)
    right_backward = layer.backward

    def wrong_backward(dout):
        dx = right_backward(dout)
        layer.grads["bias"] = 0 * layer.grads["bias"]
        return dx

    layer.backward = wrong_backward
    assert gradcheck.check_layer(layer, np.random.default_rng(1).standard_normal((5, 4))) > 0.5


def test_the_command_prints_a_table(capsys):
    assert gradcheck.main(["Flatten", "Dropout"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["layer", "max", "relative", "error", "seconds"]
    assert [line.split()[0] for line in lines[1:]] == ["Flatten", "Dropout"]
    assert all(line.endswith("ok") for line in lines[1:])
