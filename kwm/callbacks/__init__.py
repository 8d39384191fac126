"""Keras callbacks for watermarking inside an ordinary `model.fit`."""

from kwm.callbacks.watermark_accuracy import WatermarkAccuracy
