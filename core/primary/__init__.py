"""Primary attribution: explain the model output in terms of its inputs."""
