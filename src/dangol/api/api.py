from ninja import NinjaAPI

api = NinjaAPI(title="Dangol API", version="1")
