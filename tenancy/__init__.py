"""The tenants: users, organisations, teams, memberships, roles and API keys. Below audit,
presets and conversations; imports only chatpresets.

  models.py         User, Organization, Team, Membership, TeamMembership, ApiKey, LimitOverride
  scoping.py        the tenant queryset (`for_org`)
  permissions.py    the role matrix and API-key scopes
  services.py       writes (audited through chatpresets.audit_sink)
  selectors.py      reads, scoped to the caller
  org_settings.py   the schema of an organisation's settings
  api/              TenantViewSet (base.py), serializers, views, urls
  pages/            browser pages: the frame, keys, members, teams; hidden.py records a page's 404
                    that hid another organisation's row (every app's page routes use it)
  authentication.py, api_keys.py  Bearer key authentication and key secrets
  ws_auth.py        websocket authentication (key or session)
  key_guard.py, login_guard.py  guessing protection for keys and passwords; sign-ins audited
  key_use.py        each API key's first use of the day, audited
  chat_caller.py    the one caller resolver for every chat transport
  caller_cache.py   each process's copies of key callers (key and membership), kept by version
  denials.py        denied attempts (403, 404 hiding another organisation's row), audited
  access.py         telling open websockets that access changed
  signals.py        receivers that follow tenancy rows
  admin.py, admin_services.py  the staff console
  context_processors.py  the page frame's organisations
  schema.py, rbac_doc.py  OpenAPI key auth; docs/rbac.md from the role matrix
  metering/         rate limits, quotas, budgets, stream slots, guardrails, soft limits (imports only tenancy.models
                    of the rest of tenancy)
  management/       seed_demo and rbac_doc commands
"""
