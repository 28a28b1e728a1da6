"""Train: choose a dataset, a model and a preset; start a run and watch it live."""

import streamlit as st

from core.engine.run_folder import CONFIG_FILE
from core.engine.runs import get_run
from core.messages import markdown_literal
from ui.common import router, state
from ui.runs import queue_view, run_views
from ui.train import estimate_view, search_form
from ui.train import form as train_form
from ui.train import memory as train_memory

router.through_router()

st.title("Train")
workspace = state.workspace()
news = train_memory.news()  # what a link (the dataset just saved) or a refresh brings
dataset = train_form.choose_dataset(workspace, news)
if dataset is not None:
    task = dataset.info.task
    st.subheader("Model")
    source = train_form.choose_source(task, news)
    train_form.ensure_defaults(task, dataset, source, train_form.current_preset(news), news)
    if source == "pretrained":
        train_form.pretrained_picker(task)
    else:
        train_form.scratch_picker(task)

    st.subheader("Training settings")
    preset = train_form.choose_preset()
    estimate_slot = st.container()  # filled once the settings are known: time and memory, measured here
    train_form.hyperparameter_knobs(task)
    config = train_form.build_config(task, dataset, source)
    train_form.keep(task, dataset, source)
    if isinstance(config, str):
        st.error(markdown_literal(config), icon=":material/error:")  # it may quote a model's name
    else:
        train_form.model_size(config, dataset)
        with estimate_slot:
            estimate_view.show(workspace, config, dataset, preset)
        # Filled only once opened: most people never open it, and its code block costs each browser 1.5 MB of
        # JavaScript on its first visit.
        exact = st.expander("The exact settings, and how to run them without the app", key="train_exact",
                            on_change="rerun")
        if exact.open:
            with exact:
                st.download_button(f"Download {CONFIG_FILE}", config.to_json(), CONFIG_FILE, key="train_config_dl")
                st.code(f"python -m core.engine.worker --config {CONFIG_FILE}", language="bash")
                st.json(config.to_dict(), expanded=False)
        if st.button("Start training", type="primary", icon=":material/rocket_launch:", key="train_start"):
            run = queue_view.start(workspace, config)  # it trains when a GPU (or the CPU) is free
            if run is not None:
                state.select("run", run.id)
        search_form.render(workspace, config)  # "Find good settings for me": many runs around these settings

current = get_run(workspace, state.in_url("run") or "")
if current is not None:
    run_views.open_run(current, key="train", in_full=False)
    st.page_link("pages/runs.py", label="See it with its evaluation on the Runs page →", icon=":material/monitoring:",
                 query_params={"run": current.id})
