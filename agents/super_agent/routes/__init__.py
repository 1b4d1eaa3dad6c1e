"""The route table of the edge: every HTTP route, declared once, one module per domain."""

from __future__ import annotations

from agents.super_agent.routes.alerts import ALERT_ROUTES
from agents.super_agent.routes.apikeys import APIKEY_ROUTES
from agents.super_agent.routes.auth import AUTH_ROUTES
from agents.super_agent.routes.budgets import BUDGET_ROUTES
from agents.super_agent.routes.dashboard import DASHBOARD_ROUTES
from agents.super_agent.routes.dashboard_account import ACCOUNT_PAGE_ROUTES
from agents.super_agent.routes.dashboard_budgets import BUDGET_PAGE_ROUTES
from agents.super_agent.routes.dashboard_costs import COSTS_PAGE_ROUTES
from agents.super_agent.routes.dashboard_packages import PACKAGE_PAGE_ROUTES
from agents.super_agent.routes.dashboard_prices import PRICE_PAGE_ROUTES
from agents.super_agent.routes.dashboard_prompt_editor import EDITOR_ROUTES
from agents.super_agent.routes.dashboard_prompts import PROMPT_PAGE_ROUTES
from agents.super_agent.routes.dashboard_supply_chain import SUPPLY_CHAIN_PAGE_ROUTES
from agents.super_agent.routes.dashboard_team import TEAM_PAGE_ROUTES
from agents.super_agent.routes.experiments import EXPERIMENT_ROUTES
from agents.super_agent.routes.github import GITHUB_ROUTES
from agents.super_agent.routes.mesh import MESH_ROUTES
from agents.super_agent.routes.meta import META_ROUTES
from agents.super_agent.routes.operator import OPERATOR_ROUTES
from agents.super_agent.routes.plan_mapping import PLAN_MAPPING_ROUTES
from agents.super_agent.routes.prices import PRICE_ROUTES
from agents.super_agent.routes.prompt_evaluations import PROMPT_EVALUATION_ROUTES
from agents.super_agent.routes.prompt_repository import PROMPT_REPOSITORY_ROUTES
from agents.super_agent.routes.prompts import PROMPT_ROUTES
from agents.super_agent.routes.proxy import PROXY_ROUTES
from agents.super_agent.routes.registry import REGISTRY_ROUTES
from agents.super_agent.routes.registry_npm import REGISTRY_NPM_ROUTES
from agents.super_agent.routes.registry_python import REGISTRY_PYTHON_ROUTES
from agents.super_agent.routes.supply_chain import SUPPLY_CHAIN_ROUTES
from agents.super_agent.routes.teams import TEAM_ROUTES
from agents.super_agent.routes.telemetry import SPEND_ROUTES, TELEMETRY_ROUTES
from agents.super_agent.routes.webhooks import WEBHOOK_ROUTES
from services.gateway.route_table import Route

ROUTES: list[Route] = [
    *META_ROUTES,
    *MESH_ROUTES,
    *WEBHOOK_ROUTES,
    *APIKEY_ROUTES,
    *TELEMETRY_ROUTES,
    *PRICE_ROUTES,
    *SPEND_ROUTES,
    *BUDGET_ROUTES,
    *AUTH_ROUTES,
    *TEAM_ROUTES,
    *ALERT_ROUTES,
    *GITHUB_ROUTES,
    *OPERATOR_ROUTES,
    *PLAN_MAPPING_ROUTES,
    *PROXY_ROUTES,
    *REGISTRY_ROUTES,
    *REGISTRY_PYTHON_ROUTES,
    *SUPPLY_CHAIN_ROUTES,
    *PROMPT_ROUTES,
    *PROMPT_REPOSITORY_ROUTES,
    *PROMPT_EVALUATION_ROUTES,
    *EXPERIMENT_ROUTES,
    *REGISTRY_NPM_ROUTES,
    *DASHBOARD_ROUTES,
    *COSTS_PAGE_ROUTES,
    *BUDGET_PAGE_ROUTES,
    *PRICE_PAGE_ROUTES,
    *TEAM_PAGE_ROUTES,
    *ACCOUNT_PAGE_ROUTES,
    *PACKAGE_PAGE_ROUTES,
    *PROMPT_PAGE_ROUTES,
    *EDITOR_ROUTES,
    *SUPPLY_CHAIN_PAGE_ROUTES,
]
