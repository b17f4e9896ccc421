"""The OpenAPI 3.1 document of /api, generated from the pydantic request/response models."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from scheduler.schemas import (
    BookingOut,
    BookingRequest,
    CancelRequest,
    ErrorOut,
    FullOut,
    IneligibleOut,
    ItemOut,
    LookupRequest,
    MoveRequest,
    SlotOut,
    TownshipOut,
)

_REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "已改用 POST …/lookup（lookup_by_post）",
        404: "没有找到（预约号或手机尾号不符时也是 404）",
        409: "状态冲突（已过截止时间、重复预约、状态不允许）",
        413: "请求体过大",
        415: "不是 application/json",
        422: "字段错误",
        429: "请求太频繁，或该预约号手机尾号输错次数过多（lookup_locked）",
    }
    return {str(c): _json(_ref(ErrorOut), text[c]) for c in codes}


_REFERENCE = {
    "name": "reference",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 20},
    "description": "8位预约号（Crockford base32）",
}


@functools.cache
def document() -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        BookingRequest,
        LookupRequest,
        CancelRequest,
        MoveRequest,
        BookingOut,
        ErrorOut,
        FullOut,
        IneligibleOut,
        ItemOut,
        SlotOut,
        TownshipOut,
    ]
    _, defs = models_json_schema(
        [(m, "validation") for m in models[:3]] + [(m, "serialization") for m in models[3:]],
        ref_template=_REF,
    )
    booking = _json(_ref(BookingOut), "预约")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OneTrip 上门约办 API",
            "version": "1.0.0",
            "description": (
                "预约上门办理：事项、乡镇、可约时段、预约、查询、取消、改期。"
                "数据库暂时不可用时，各接口答 503（error 为 service_unavailable，"
                "带 Retry-After 头），可稍后重试；重试预约请带同一个 Idempotency-Key。"
            ),
        },
        "paths": {
            "/api/": {
                "get": {
                    "operationId": "apiIndex",
                    "summary": "接口入口：指向本文档 /api/openapi.json",
                    "responses": {"200": _json({"type": "object"}, "接口说明的地址")},
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapiDocument",
                    "summary": "本接口说明（OpenAPI 3.1）",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 文档")},
                }
            },
            "/api/items": {
                "get": {
                    "operationId": "listItems",
                    "summary": "可上门办理的事项",
                    "responses": {
                        "200": _json({"type": "array", "items": _ref(ItemOut)}, "事项"),
                        **_errors(422),
                    },
                }
            },
            "/api/townships": {
                "get": {
                    "operationId": "listTownships",
                    "summary": "乡镇（街道）列表",
                    "responses": {
                        "200": _json({"type": "array", "items": _ref(TownshipOut)}, "乡镇（街道）"),
                        **_errors(422),
                    },
                }
            },
            "/api/slots": {
                "get": {
                    "operationId": "listSlots",
                    "summary": "某乡镇的可约时段（日期、上午/下午、该事项的剩余名额）",
                    "parameters": [
                        {
                            "name": "item",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "town_code",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "pattern": r"^\d{9}$"},
                        },
                    ],
                    "responses": {
                        "200": _json({"type": "array", "items": _ref(SlotOut)}, "可约时段"),
                        **_errors(422),
                    },
                }
            },
            "/api/bookings": {
                "post": {
                    "operationId": "createBooking",
                    "summary": "提交上门预约",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(BookingRequest)}},
                    },
                    "responses": {
                        "201": _json(_ref(BookingOut), "已受理"),
                        "409": _json(
                            {"anyOf": [_ref(FullOut), _ref(ErrorOut)]}, "时段已满或重复预约"
                        ),
                        "422": _json(
                            {"anyOf": [_ref(IneligibleOut), _ref(ErrorOut)]}, "字段错误或不符合条件"
                        ),
                        **_errors(413, 415, 429),
                    },
                }
            },
            "/api/bookings/{reference}": {
                "get": {
                    "operationId": "getBookingMoved",
                    "summary": "旧的查询地址（已改为 POST）",
                    "description": "已改为 POST /api/bookings/{reference}/lookup：手机号后四位"
                    "不能放在网址里（会进入日志）。总是回答 400 lookup_by_post。",
                    "parameters": [_REFERENCE],
                    "responses": {**_errors(400)},
                }
            },
            "/api/bookings/{reference}/lookup": {
                "post": {
                    "operationId": "lookupBooking",
                    "summary": "凭预约号和手机号后四位查询预约",
                    "parameters": [_REFERENCE],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(LookupRequest)}},
                    },
                    "responses": {"200": booking, **_errors(404, 413, 415, 422, 429)},
                }
            },
            "/api/bookings/{reference}/cancel": {
                "post": {
                    "operationId": "cancelBooking",
                    "summary": "取消预约",
                    "parameters": [_REFERENCE],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(CancelRequest)}},
                    },
                    "responses": {"200": booking, **_errors(404, 409, 413, 415, 422, 429)},
                }
            },
            "/api/bookings/{reference}/move": {
                "post": {
                    "operationId": "moveBooking",
                    "summary": "改期到另一个时段",
                    "parameters": [_REFERENCE],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(MoveRequest)}},
                    },
                    "responses": {
                        "200": booking,
                        "409": _json(
                            {"anyOf": [_ref(FullOut), _ref(ErrorOut)]}, "时段已满或不能改期"
                        ),
                        **_errors(404, 413, 415, 422, 429),
                    },
                }
            },
        },
        "components": {"schemas": defs["$defs"]},
    }
