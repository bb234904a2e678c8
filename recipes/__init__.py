"""The recipes shipped with kerascl, one file per recipe, each defining a module-level `RECIPE`.

Installed as the package `kerascl.recipes`; find them with `kerascl.recipe.get_recipe(name)` or `kerascl recipes`.
"""
