"""perspicio's web app: explain an image, a sentence, a prompt's answer or a table row, and
explore a model's examples. One page per modality (``apps/pages/``), all over the helper of
``apps/common.py``.

perspicio app          # or: streamlit run apps/app.py
"""

from pathlib import Path

import streamlit as st
import torch

PAGES = Path(__file__).resolve().parent / "pages"
#: (title, script) of each page, in the order of the navigation
ORDER = [
    ("Image", "image.py"),
    ("Text", "text.py"),
    ("Generation", "generation.py"),
    ("Table", "table.py"),
    ("Explorer", "explorer.py"),
]

st.set_page_config(page_title="perspicio", layout="wide")
torch.set_num_threads(2)
page = st.navigation(
    [st.Page(PAGES / script, title=title) for title, script in ORDER], position="top"
)
st.title("perspicio")
st.caption("Why did the model decide that? Pick an input, a model and methods.")
page.run()
