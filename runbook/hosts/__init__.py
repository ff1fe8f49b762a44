"""Windows hosts over PowerShell remoting (pypsrp) and the PowerShell functions shipped to them (ps/)."""
