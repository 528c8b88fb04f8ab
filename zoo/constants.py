"""Normalization statistics shared by the datasets and the model entries.

Per-channel ``(mean, std)`` on the 0..1 scale, each over its training set. A
model entry declares the statistics its default recipe normalizes with
(``register_model(mean=..., std=...)``); ``zoo.data_config`` hands them on.
"""

from __future__ import annotations

__all__ = ["MNIST_STATS", "FASHION_MNIST_STATS", "CIFAR10_STATS", "CIFAR100_STATS", "IMAGENET_STATS"]

MNIST_STATS = ((0.1307,), (0.3081,))
FASHION_MNIST_STATS = ((0.2860,), (0.3530,))
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
