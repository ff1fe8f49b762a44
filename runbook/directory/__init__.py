"""Active Directory over ldap3: binding, reading and writing the accounts a change touches."""
