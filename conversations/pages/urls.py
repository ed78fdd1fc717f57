"""Chat, experiment and replay pages under /o/<org_slug>/ (experiments and replays here because they read
conversations)."""

from __future__ import annotations

from django.urls import path

from conversations.models import Conversation
from conversations.pages import chat, conversation, experiments, replays, sidebar, start
from conversations.replays.models import PromptSet, Replay
from presets.experiments.models import Experiment
from presets.models import Preset
from tenancy.pages.hidden import hiding_recorded

urlpatterns = (
    hiding_recorded(
        [
            path("chat/", start.new_chat, name="chat-new"),
            path("chat/presets/", start.picker, name="chat-picker"),
            path("chat/start/", start.start, name="chat-start"),
            path("chat/list/", sidebar.sidebar_list, name="chat-sidebar"),
            path("chat/<uuid:pk>/", chat.conversation_page, name="chat"),
            path("chat/<uuid:pk>/messages/", conversation.older_messages, name="chat-messages"),
            path("chat/<uuid:pk>/context/", conversation.context_panel, name="chat-context"),
            path("chat/<uuid:pk>/rename/", sidebar.rename, name="chat-rename"),
            path("chat/<uuid:pk>/delete/", sidebar.delete, name="chat-delete"),
            path("chat/<uuid:pk>/upgrade/", start.upgrade, name="chat-upgrade"),
        ],
        pk=Conversation,
    )
    + hiding_recorded(
        [
            path("experiments/", experiments.experiment_list, name="experiments-page"),
            path("experiments/new/", experiments.experiment_create, name="experiment-create-page"),
            path("experiments/<uuid:pk>/", experiments.experiment_page, name="experiment-page"),
            path("experiments/<uuid:pk>/act/", experiments.experiment_act, name="experiment-act-page"),
        ],
        pk=Experiment,
    )
    + hiding_recorded(
        [
            path("presets/<uuid:preset_id>/replays/", replays.review_fragment, name="preset-replays-page"),
            path("presets/<uuid:preset_id>/replays/start/", replays.start, name="replay-start-page"),
            path("presets/<uuid:preset_id>/replays/<uuid:pk>/", replays.replay_page, name="replay-page"),
            path("presets/<uuid:preset_id>/replays/<uuid:pk>/cancel/", replays.cancel, name="replay-cancel-page"),
        ],
        preset_id=Preset,
        pk=Replay,
    )
    + hiding_recorded(
        [
            path("presets/<uuid:preset_id>/prompt-sets/", replays.prompt_set_create, name="prompt-set-create-page"),
            path(
                "presets/<uuid:preset_id>/prompt-sets/<uuid:pk>/delete/",
                replays.prompt_set_delete,
                name="prompt-set-delete-page",
            ),
        ],
        preset_id=Preset,
        pk=PromptSet,
    )
)
