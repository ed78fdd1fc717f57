"""Preset pages under /o/<org_slug>/."""

from __future__ import annotations

from django.urls import path

from presets.models import Preset, PresetLink
from presets.pages import detail, editor, labels, listing, review, sharing, webhooks
from presets.webhooks.models import WebhookDelivery, WebhookEndpoint
from tenancy.pages.hidden import hiding_recorded

PRESET = "presets/<uuid:pk>/"

WEBHOOK = "webhooks/<uuid:pk>/"

urlpatterns = hiding_recorded(
    [
        path("presets/", listing.preset_list, name="presets-page"),
        path("presets/trash/", listing.trash, name="presets-trash-page"),
        path("presets/new/", editor.new_preset, name="preset-new-page"),
        path("presets/token-count/", editor.token_count, name="preset-token-count-page"),
        path("presets/review/", review.review_queue, name="presets-review-page"),
        path(PRESET, detail.preset_detail_page, name="preset-page"),
        path(f"{PRESET}edit/", editor.edit_preset, name="preset-edit-page"),
        path(f"{PRESET}diff/", detail.diff_page, name="preset-diff-page"),
        path(f"{PRESET}revert/", detail.revert, name="preset-revert-page"),
        path(f"{PRESET}clone/", detail.clone, name="preset-clone-page"),
        path(f"{PRESET}delete/", detail.delete, name="preset-delete-page"),
        path(f"{PRESET}restore/", detail.restore, name="preset-restore-page"),
        path(f"{PRESET}submit/", detail.submit, name="preset-submit-page"),
        path(f"{PRESET}approve/", review.approve, name="preset-approve-page"),
        path(f"{PRESET}reject/", review.reject, name="preset-reject-page"),
        path(f"{PRESET}labels/", labels.move, name="preset-label-move-page"),
        path(f"{PRESET}labels/<slug:name>/delete/", labels.delete, name="preset-label-delete-page"),
        path(f"{PRESET}share/", sharing.share_page, name="preset-share-page"),
        path(f"{PRESET}share/grant/", sharing.grant, name="preset-grant-page"),
        path(f"{PRESET}share/<str:principal>/revoke/", sharing.ungrant, name="preset-ungrant-page"),
        path(f"{PRESET}links/", sharing.link_create, name="preset-link-create-page"),
        path(f"{PRESET}links/<uuid:link_id>/revoke/", sharing.link_revoke, name="preset-link-revoke-page"),
        path(f"{PRESET}libraries/", sharing.library_toggle, name="preset-library-page"),
    ],
    pk=Preset,
    link_id=PresetLink,
)
urlpatterns += hiding_recorded(
    [
        path("webhooks/", webhooks.webhooks_page, name="webhooks-page"),
        path(f"{WEBHOOK}delete/", webhooks.webhook_delete, name="webhook-delete-page"),
        path(f"{WEBHOOK}deliveries/<uuid:delivery_id>/resend/", webhooks.delivery_resend, name="webhook-resend-page"),
    ],
    pk=WebhookEndpoint,
    delivery_id=WebhookDelivery,
)
