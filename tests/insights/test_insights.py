"""perspicio.insights: the explorer's state, filters and per-feature explanations."""

import pytest
import torch
from torch import nn

pytest.importorskip("matplotlib")

from perspicio.insights import (  # noqa: E402
    AttributionVisualizer,
    Batch,
    GeneralFeature,
    ImageFeature,
    TextFeature,
)

CLASSES = ["dark", "bright"]


class Brightness(nn.Module):
    """Bright images (mean pixel > 0.5) are class 1: a classifier whose answers are known."""

    def forward(self, x):
        score = (x.mean((1, 2, 3)) - 0.5) * 20
        return torch.stack([-score, score], 1)


def _dataset():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(8, 3, 6, 6, generator=g) * 0.5 + torch.tensor(
        [0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0]
    ).view(8, 1, 1, 1)
    labels = torch.tensor([1, 0, 1, 0, 0, 1, 1, 0])  # rows 4 and 5 are labelled wrongly
    return [Batch(images[:4], labels=labels[:4]), Batch(images[4:], labels=labels[4:])]


def _visualizer():
    return AttributionVisualizer(
        models=[Brightness()],
        classes=CLASSES,
        features=[
            ImageFeature("photo", baseline_transforms=[lambda x: x * 0], input_transforms=[])
        ],
        dataset=_dataset(),
        score_func=lambda out: out.softmax(1),
    )


def test_examples_are_scored_and_filtered_reading_batches_lazily():
    vis = _visualizer()
    first = vis.examples(count=2)
    assert len(first) == 2 and len(vis._examples) == 4  # one batch read so far
    top = first[0].predictions[0]
    assert top[0][0] == "bright" and sum(p for _, p in top) == pytest.approx(1.0, abs=1e-5)
    wrong = vis.examples(count=4, correctness="incorrect")
    assert [e.index for e in wrong] == [4, 5] and len(vis._examples) == 8
    dark = vis.examples(count=10, classes=["dark"])
    assert {e.predicted() for e in dark} == {"dark"} and len(dark) == 4
    with pytest.raises(ValueError, match="`correctness`"):
        vis.examples(correctness="wrong")
    with pytest.raises(ValueError, match="`classes`"):
        vis.examples(classes=["cat"])


def test_explaining_an_example_gives_each_feature_its_share_and_a_picture():
    vis = _visualizer()
    example = vis.examples(count=1)[0]
    result = vis.explain(example, method="integrated_gradients", n_steps=8)
    assert result.target == "bright"  # the true label by default
    (view,) = result.features
    assert view.kind == "image" and view.contribution == pytest.approx(1.0)
    assert view.html.startswith('<img alt="photo attribution" src="data:image/png;base64,')
    occlusion = vis.explain(example, method="occlusion", window=2, target="dark")
    assert occlusion.target == "dark"
    page = result._repr_html_()  # a notebook shows the explanation as the explorer does
    assert "integrated_gradients for bright" in page and "photo</b>: 100%" in page
    assert view.html in page
    with pytest.raises(ValueError, match="`method`"):
        vis.explain(example, method="magic")
    with pytest.raises(ValueError, match="`target`"):
        vis.explain(example, target="cat")


class AnswerModel(nn.Module):
    """An image and a question (two word ids) -> yes/no: "yes" when the question's first word
    is 1 and the image is bright; a GeneralFeature of two numbers adds its first value."""

    def __init__(self):
        super().__init__()
        self.words = nn.Embedding(4, 1)
        with torch.no_grad():
            self.words.weight.copy_(torch.tensor([[0.0], [2.0], [0.0], [0.0]]))

    def forward(self, image, question, extra):
        word = self.words(question)[:, 0, 0]
        score = image.mean((1, 2, 3)) * 4 + word + extra[:, 0] - 3
        return torch.stack([-score, score], 1)


def test_several_features_share_the_attribution():
    g = torch.Generator().manual_seed(1)
    image = torch.rand(2, 3, 4, 4, generator=g)
    question = torch.tensor([[1, 2], [3, 2]])
    extra = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    vis = AttributionVisualizer(
        models=AnswerModel(),
        classes=["no", "yes"],
        features=[
            ImageFeature("image"),
            TextFeature(
                "question",
                visualization_transform=lambda ids: [
                    ["<pad>", "is", "it", "red"][int(i)] for i in ids.reshape(-1)
                ],
            ),
            GeneralFeature("extra", ["a", "b"]),
        ],
        dataset=[Batch([image, question, extra], labels=torch.tensor([1, 0]))],
    )
    example = vis.examples(count=1)[0]
    with pytest.raises(ValueError, match="integer ids"):
        vis.explain(example, method="integrated_gradients")
    result = vis.explain(example, method="feature_ablation")
    shares = {v.name: v.contribution for v in result.features}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["question"] > 0 and shares["extra"] > 0
    text = next(v for v in result.features if v.kind == "text")
    assert "&lt;pad&gt;" not in text.html and "is" in text.html
    bars = next(v for v in result.features if v.kind == "general")
    assert "a</span>" in bars.html and "+1.000" in bars.html


def test_the_notebook_view_escapes_feature_names():
    vis = AttributionVisualizer(
        models=[Brightness()],
        classes=["<b>dark</b>", "bright"],
        features=[ImageFeature("<script>x</script>", input_transforms=[])],
        dataset=_dataset(),
        score_func=lambda out: out.softmax(1),
    )
    page = vis.explain(vis.examples(count=1)[0], method="saliency", target="<b>dark</b>").to_html()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;dark&lt;/b&gt;" in page


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="`models`"):
        AttributionVisualizer(models=["model"], classes=CLASSES, features=[], dataset=[])
    with pytest.raises(TypeError, match="`features`"):
        AttributionVisualizer(models=Brightness(), classes=CLASSES, features=["photo"], dataset=[])
    vis = AttributionVisualizer(
        models=Brightness(),
        classes=CLASSES,
        features=[ImageFeature("a"), ImageFeature("b")],
        dataset=_dataset(),
    )
    with pytest.raises(ValueError, match="one feature per input"):
        vis.examples()


# ------------------------------------------------ a trained multimodal (VQA-like) model
def _vqa_data(n, seed):
    """An image with a red or a blue square, and a question ("is it red?" = 0, "is it
    blue?" = 1): the answer is yes (1) when the question names the square's colour."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, 8, 8, generator=g) * 0.2
    colour = torch.randint(0, 2, (n,), generator=g)
    question = torch.randint(0, 2, (n, 1), generator=g)
    for i in range(n):
        r, c = torch.randint(0, 5, (2,), generator=g).tolist()
        images[i, 0 if colour[i] == 0 else 2, r : r + 3, c : c + 3] = 1.0
    answer = (colour == question[:, 0]).long()
    return images, question, answer


class TinyVQA(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten()
        )
        self.words = nn.Embedding(2, 8)
        self.head = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, image, question):
        return self.head(torch.cat([self.vision(image), self.words(question)[:, 0]], 1))


@pytest.fixture(scope="module")
def vqa():
    torch.manual_seed(0)
    model = TinyVQA()
    images, question, answer = _vqa_data(512, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):  # about a second
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images, question), answer).backward()
        optimizer.step()
    return model.eval()


def test_a_multimodal_answer_is_explained_by_both_the_image_and_the_question(vqa):
    images, question, answer = _vqa_data(64, seed=1)
    with torch.no_grad():
        assert (vqa(images, question).argmax(1) == answer).float().mean() > 0.95
    vis = AttributionVisualizer(
        models=vqa,
        classes=["no", "yes"],
        features=[
            ImageFeature("image"),
            TextFeature(
                "question",
                visualization_transform=lambda ids: [
                    ["is it red?", "is it blue?"][int(i)] for i in ids.reshape(-1)
                ],
            ),
        ],
        dataset=[Batch([images, question], labels=answer)],
        score_func=lambda o: o.softmax(1),
    )
    example = vis.examples(count=1, correctness="correct")[0]
    result = vis.explain(example, method="feature_ablation")
    shares = {v.name: v.contribution for v in result.features}
    # the answer needs both: the square's colour and which colour is asked about
    assert shares["question"] > 0.05 and shares["image"] > 0.05
    assert "is it" in next(v.html for v in result.features if v.name == "question")


class Darkness(Brightness):
    """The opposite classifier: a second model to compare with."""

    def forward(self, x):
        return -super().forward(x)


def test_several_models_are_explained_for_the_same_target():
    vis = AttributionVisualizer(
        models=[Brightness(), Darkness()],
        classes=CLASSES,
        features=[ImageFeature("photo")],
        dataset=_dataset(),
        score_func=lambda out: out.softmax(1),
    )
    example = vis.examples(count=1)[0]
    assert [p[0][0] for p in example.predictions] == ["bright", "dark"]
    first, second = vis.explain_models(example, method="input_x_gradient")
    assert first.target == second.target == "bright"  # the true label, for both
    # the second model scores "bright" with the opposite sign: opposite attributions
    assert torch.allclose(first.attributions[0], -second.attributions[0])
    assert float(first.attributions[0].abs().sum()) > 0


def test_captums_insights_tutorial_runs_after_search_and_replace():
    # the tutorial's code with captum.insights -> perspicio.insights, an endless generator of
    # batches, a torchvision Normalize as the input transform and a zero baseline function
    # (offline stand-ins for CIFAR-10 and its pretrained network)
    torchvision = pytest.importorskip("torchvision")
    from perspicio.insights import AttributionVisualizer, Batch
    from perspicio.insights.attr_vis.features import ImageFeature

    def baseline_func(input):
        return input * 0

    def formatted_data_iter():
        g = torch.Generator().manual_seed(0)
        while True:  # the tutorial's loader never ends either
            images = torch.rand(4, 3, 6, 6, generator=g)
            yield Batch(inputs=images, labels=(images.mean((1, 2, 3)) > 0.5).long())

    normalize = torchvision.transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

    class Net(nn.Module):  # reads normalised images: bright means > 0 after Normalize
        def forward(self, x):
            score = x.mean((1, 2, 3)) * 20
            return torch.stack([-score, score], 1)

    visualizer = AttributionVisualizer(
        models=[Net()],
        score_func=lambda o: torch.nn.functional.softmax(o, 1),
        classes=["dark", "bright"],
        features=[
            ImageFeature("Photo", baseline_transforms=[baseline_func], input_transforms=[normalize])
        ],
        dataset=formatted_data_iter(),
    )
    examples = visualizer.examples(count=6)
    assert len(examples) == 6  # two batches of the endless stream read, no more
    assert all(e.predicted() == CLASSES[int(e.label)] for e in examples)
    result = visualizer.explain(examples[0], method="integrated_gradients", n_steps=8)
    assert result.features[0].contribution == pytest.approx(1.0)
