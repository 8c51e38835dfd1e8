from falco.cli import main

main(prog_name="falco")
