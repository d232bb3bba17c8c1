import ArgumentParser
import Agent
print("jira-auth-agent")
