"""LiteRT (formerly TensorFlow Lite) as a second runtime: conversion, the local device, ``benchmark_model`` on phones and boards."""
