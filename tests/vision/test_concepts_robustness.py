"""Concepts and robustness on the shapes model, where the truth is known: a shape's concept
drives its own class and not the others; gradient attacks lower the accuracy where noise of
the same size does not; the smallest flipping noise equals a brute-force scan."""

import numpy as np
import pytest
import torch

pytest.importorskip("torchvision")
pytest.importorskip("skimage")

from perspicio import vision  # noqa: E402
from perspicio.core.concept import TCAV, significance  # noqa: E402
from perspicio.vision.demo import (  # noqa: E402
    SHAPES,
    shape_concept_images,
    shapes_checkpoints,
    shapes_dataset,
    shapes_model,
)

# the third block, after its ReLU: after the last block only the global average and the
# classifier follow, so the gradient there is the same for every input and a CAV's sign
# count is 0 or 1 for all inputs at once, too coarse to rank against random concepts
LAYER = "features.6"
SIZE = 60  # images per concept


@pytest.fixture(scope="module")
def shapes():
    torch.set_num_threads(1)
    return shapes_model(), *shapes_dataset(200, seed=11)[:2]


@pytest.mark.parametrize("shape", ["triangle", "cross"])
def test_a_shape_concept_drives_its_class_and_no_other(shapes, shape):
    """Images of one shape in colours and sizes the model never saw, against 19 random
    concepts drawn from the same kind of images with shapes at random (so the concept
    differs from them in the shape alone): significant (p = 1/20) for the shape's class
    and not for the three others (p >= 0.7), on five models trained with different
    instruction sets (oneDNN limited to SSE4.1, AVX, AVX2 or AVX-512). Circles
    and squares a few pixels across differ in a few pixels: on one of those models the
    circle concept was significant for the square class too and the square concept
    missed its own (p = 0.10), so they are shown in docs/concepts.md, not tested."""
    net, x, y = shapes
    pool = shape_concept_images(None, 600, seed=99)
    randoms = vision.random_concepts(pool, n=19, size=SIZE)
    kind = SHAPES.index(shape)
    concept = vision.concept_from_images(shape_concept_images(shape, SIZE, seed=kind), shape, kind)
    tcav = TCAV(net, [LAYER], save_path=None)
    results = {
        target: significance(
            tcav, x[y == target][:40], concept, randoms, target=target, alternative="greater"
        )[LAYER]
        for target in range(len(SHAPES))
    }
    assert results[kind].significant and results[kind].p_value == pytest.approx(1 / 20)
    assert results[kind].mean > 0.9
    for target, result in results.items():
        if target != kind:
            assert not result.significant, (SHAPES[target], result.p_value)
    fig = vision.plot_significance(list(results.values()), title=shape)
    assert len(fig.axes) == 1


def test_gradient_attacks_lower_accuracy_where_noise_of_the_same_size_does_not(shapes):
    net, x, y = shapes
    eps = (0.0, 4 / 255, 8 / 255, 16 / 255)
    report = vision.attack_accuracy(net, x, y, epsilons=eps)
    fgsm, pgd = report.accuracy["fgsm"], report.accuracy["pgd"]
    assert fgsm[0] == pgd[0] >= 0.97  # clean accuracy
    # at 16/255, measured on six models (the cached model's training is deterministic on
    # one machine, but float sums differ between instruction sets: CI's machine and five
    # oneDNN ISA limits here): FGSM 0.45 to 0.61, PGD 0.135 to 0.40; the bars keep the
    # claim (accuracy at least a quarter and a half lower, where noise of the same size
    # costs at most 0.05) on each
    assert fgsm[-1] <= 0.75 and pgd[-1] <= 0.5
    assert all(p <= f + 1e-6 for p, f in zip(pgd, fgsm))  # PGD is at least as strong
    assert all(a >= b for a, b in zip(pgd, pgd[1:]))  # and weakens with epsilon
    # random signs of the same L-inf size barely matter
    generator = torch.Generator().manual_seed(0)
    signs = torch.randint(0, 2, x.shape, generator=generator).float() * 2 - 1
    with torch.no_grad():
        noisy = net((x + eps[-1] * signs).clamp(0, 1)).argmax(1)
    assert (noisy == y).float().mean() >= 0.95
    assert len(report.plot().axes) == 1


def test_min_noise_level_equals_a_brute_force_scan(shapes):
    net, x, _ = shapes
    grid = np.arange(0.0, 0.6, 0.02)
    found_any = False
    for i in range(4):
        std, noisy = vision.min_noise_level(net, x[i], max_std=0.6, step=0.02, attempts=3, seed=i)
        directions = torch.randn((3, *x.shape[1:]), generator=torch.Generator().manual_seed(i))
        with torch.no_grad():
            label = int(net(x[i : i + 1]).argmax(1))
            expected = None
            for s in grid:
                batch = (x[i] + float(s) * directions).clamp(0, 1)
                if (net(batch).argmax(1) != label).any():
                    expected = float(s)
                    break
        if expected is None:
            assert std is None and noisy is None
        else:
            found_any = True
            assert std == pytest.approx(expected)
            with torch.no_grad():
                assert int(net(noisy).argmax(1)) != label
    assert found_any


def test_bad_input_is_named(shapes):
    net, x, y = shapes
    with pytest.raises(ValueError, match="`labels`"):
        vision.attack_accuracy(net, x, y[:3])
    with pytest.raises(ValueError, match="`attacks`"):
        vision.attack_accuracy(net, x, y, attacks=["cw"])
    with pytest.raises(ValueError, match="`image`"):
        vision.min_noise_level(net, x[:2])
    with pytest.raises(ValueError, match="`folder`"):
        vision.concept_from_folder("/nonexistent/folder")
    with pytest.raises(ValueError, match="`size`"):
        vision.random_concepts(x[:5], n=2, size=10)


def test_influential_training_images_share_the_predicted_shape(shapes):
    """TracIn over the shapes CNN's six epoch checkpoints, on 1000 of its training images:
    the images that most support each of 16 predictions show the predicted shape (all of
    the top 5 for 32 test images on the models two CPUs trained; chance 0.25). With the
    final weights alone it fell to 0.5 and 0.8: the last checkpoint's gradients are large
    only on the training images the model still gets wrong, whatever their shape."""
    net, x, _ = shapes
    checkpoints = shapes_checkpoints()
    assert len(checkpoints) == 6
    train_x, train_y, _ = shapes_dataset(1000, seed=1)  # part of the training data
    found = vision.influential_images(
        net, x[:16], (train_x, train_y), checkpoints, k=5, class_names=list(SHAPES)
    )
    with torch.no_grad():
        predicted = net(x[:16]).argmax(1)
    same = (train_y[found.indices] == predicted[:, None]).float().mean()
    assert same >= 0.9
    opposing = vision.influential_images(
        net, x[:2], (train_x, train_y), checkpoints, k=3, opponents=True
    )
    assert (opposing.scores <= found.scores[:2].min()).all()
    assert len(found.plot().axes) == 16 * 6
    with pytest.raises(ValueError, match="`method`"):
        vision.influential_images(net, x[:1], (train_x, train_y), checkpoints, method="arnoldi")


def test_concept_images_name_a_shape_or_draw_shapes_at_random():
    with pytest.raises(ValueError, match="`shape` must be one of"):
        shape_concept_images("hexagon", 2)
    for shape in ("cross", None):
        images = shape_concept_images(shape, 5, seed=3)
        assert images.shape == (5, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
        torch.testing.assert_close(images, shape_concept_images(shape, 5, seed=3))
    assert not torch.equal(
        shape_concept_images(None, 5, seed=3), shape_concept_images("cross", 5, seed=3)
    )
