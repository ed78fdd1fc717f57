"""Preset pages outside any organisation: the gallery and share links."""

from __future__ import annotations

from django.urls import path

from presets.pages import public

urlpatterns = [
    path("gallery/", public.gallery, name="gallery-page"),
    path("gallery/<uuid:pk>/", public.gallery_preset, name="gallery-preset-page"),
    path("gallery/<uuid:pk>/clone/", public.gallery_clone, name="gallery-clone-page"),
    path("l/<str:token>/", public.link_page, name="link-page"),
    path("l/<str:token>/clone/", public.link_clone, name="link-clone-page"),
]
