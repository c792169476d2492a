from lms_bridge.cli import main

main()
