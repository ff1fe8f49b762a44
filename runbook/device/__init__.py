"""The device proof: what a phone with a certificate sees at the public name, and what that means."""
