"""Runnable paper experiments: `python -m kwm.recipes.<dataset>`."""

from kwm.recipes.config import available_recipes, load_recipe
