from locust import FastHttpUser, between, task


class ResnetTest(FastHttpUser):
    wait_time = between(0.01, 0.05)

    @task
    def predict(self):
        self.client.post("/predictions/resnet-18", json={"instances": [[0.5]]}, name="resnet predict")
