from locust import FastHttpUser, between, task


class SqueezenetTest(FastHttpUser):
    wait_time = between(0.01, 0.05)

    @task(4)
    def predict(self):
        self.client.post("/predictions/squeezenet", json={"instances": [[0.1, 0.2, 0.3]]}, name="squeezenet predict")

    @task(1)
    def ping(self):
        self.client.get("/ping", name="ping")
