cb({"status":400,"error":true,"message":"Invalid uuid \"\": is empty","service":"Presence"})
