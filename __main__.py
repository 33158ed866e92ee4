"""Entry point for `pulumi up` / `pulumi preview`: the whole program lives in stacks/."""
from stacks.program import main

main()
