from mnas_pred.cli import run

run()
