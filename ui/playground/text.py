"""Playground for text classifiers: type or paste texts, see the predicted class and every class's probability."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.engine import charts
from core.engine.runs import Run
from core.messages import markdown_literal
from ui.playground.predictors import predictor_for

MAX_LINES = 500


def render(run: Run) -> None:
    text = st.text_area("Text to classify — one per line to classify several at once", height=140,
                        key=f"play_text_{run.id}", placeholder="The coffee was lovely and the staff were kind.")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        st.caption("Type a text above and press Ctrl+Enter.")
        return
    if len(lines) > MAX_LINES:
        st.warning(f"Only the first {MAX_LINES} lines are classified.", icon=":material/warning:")
        lines = lines[:MAX_LINES]
    results = predictor_for(run).predict(lines)
    first = results[0]
    label, probability = next(iter(first.items()))
    st.markdown(f"**{markdown_literal(label)}** ({probability:.0%} sure)"
                + (f" — for “{markdown_literal(lines[0][:80])}”" if len(lines) > 1 else ""))
    st.plotly_chart(charts.probability_bars(first), key=f"play_bars_{run.id}")
    if len(lines) > 1:
        rows = [{"text": line, "prediction": next(iter(r)), "probability": next(iter(r.values()))}
                for line, r in zip(lines, results)]
        frame = pd.DataFrame(rows)
        st.dataframe(frame, hide_index=True, column_config={
            "probability": st.column_config.ProgressColumn("probability", min_value=0.0, max_value=1.0,
                                                           format="percent")})
        st.download_button("Download predictions (.csv)", frame.to_csv(index=False), "predictions.csv",
                           key=f"play_text_dl_{run.id}")
