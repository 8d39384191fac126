"""kwm's recipe configurations: one TOML file per paper experiment.

This folder is installed as the package `kwm.recipes.configs`; the runnable
modules in `kwm/recipes/` load these files (`kwm.recipes.config.load_recipe`).
"""
