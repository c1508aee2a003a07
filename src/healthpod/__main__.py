from healthpod.cli import main

main()
