"""Losses: the soft nearest neighbour loss behind EWE."""

from kwm.losses.soft_nearest_neighbour import (
    SoftNearestNeighbourLoss,
    pairwise_distances,
    soft_nearest_neighbour_loss,
)
